// Starts Swagger UI on the API's own document. It replaces the inline
// initializer of swagger-ui-dist's index.html, which the page's
// Content-Security-Policy (script-src 'self') would refuse.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    // Relative to this page: /docs reads /openapi.json, /Prod/docs reads
    // /Prod/openapi.json (the document's servers entry is "./" for the same
    // reason).
    url: new URL("openapi.json", window.location.href).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The badge would send the document to validator.swagger.io.
    validatorUrl: null,
    // Requests go only to this API: no "Explore" box to load other URLs.
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
