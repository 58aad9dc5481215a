// htmx as the pages' Content-Security-Policy allows it, and the CSRF token on its requests.
//
// Loaded after htmx.min.js (both with `defer`, so both run before htmx starts on
// DOMContentLoaded). The token is the page's <meta name="csrf-token">, read at each request
// because a swap or a new sign-in may have replaced it; the server checks it in the
// X-CSRF-Token header.

const htmx = window.htmx;
if (htmx) {
  // htmx would insert a <style> for its request indicators (refused by style-src 'self'; the
  // site's stylesheet carries those rules) and evaluate hx-on and js: values (refused without
  // 'unsafe-eval'). Saying so here keeps the console free of violations.
  htmx.config.includeIndicatorStyles = false;
  htmx.config.allowEval = false;
}

document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta) return;
  // Never hand the token to another origin, even if a page turns off selfRequestsOnly.
  const target = new URL(event.detail.path, document.baseURI);
  if (target.origin !== window.location.origin) return;
  event.detail.headers["X-CSRF-Token"] = meta.content;
});
