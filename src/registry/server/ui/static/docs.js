// Starts Swagger UI on /docs from the package's own copy (see vendor/swagger-ui/README.md).
// An external file, not an inline script, so the page keeps its content security policy.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,  // the default validator badge would call out to the internet
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
