// /js/embed/web.push.js: loaded by VCC / 3C CRM pages (seeds 001/002). CTI Bridge's push channel (the
// bridge's WebSocket) lives in cs_voice.js; a CRM's code reads nothing from this file, so it is empty.
