// /js/embed/init-3.0.7.js: one of the six scripts a VCC / 3C CRM page loads from its vendor's host
// (Demo-Embed-VCC, Demo-Embed-3C). With CTI Bridge everything those scripts did is in cs_voice.js (the
// SDK with the csInit/csCallout globals); this file stays so the page's <script> tag finds a script,
// and defines nothing a CRM's custom.js reads.
