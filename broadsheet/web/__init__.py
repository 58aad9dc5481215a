"""The web UI: server-rendered pages over the same services as the API.

router.py        every page router, and /static          (app.py includes it)
routing.py       page_router(): CSRF checked first, security headers on every answer
dependencies.py  WebAllowed(action) (the permission table), MaybeWebUser: the API's Principal
rendering.py     render(), fragment(), see_other(); the context every template gets
forms.py         Form (the posted fields), FormState (values + errors for a template)
errors.py        errors as pages (problem+json stays the API's)
csrf.py, cookies.py, headers.py, static_files.py
sign_in.py       /login, /logout, /
templates/       base.html.j2, _macros.html.j2 (GOV.UK-style fields), the pages
static/          app.css; vendor/ holds the built front-end files (make assets)
"""
