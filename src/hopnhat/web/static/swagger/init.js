// Starts Swagger UI on /docs from a file, so the page needs no inline script (the content-security policy allows
// none). swagger-ui-dist 5.35.0, vendored: nothing is fetched from a CDN.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null, // its default is a badge fetched from validator.swagger.io: nothing leaves at run time
  });
});
