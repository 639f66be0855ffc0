// /js/embed/cs_const.js: loaded by VCC / 3C CRM pages (seeds 001/002) before cs_voice.js. What a CRM's
// custom.js reads (csVoice, callInfo, the csCallout error codes it is given) comes from cs_voice.js,
// so this file defines nothing.
