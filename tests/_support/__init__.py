"""Helpers the tests share: small servers, fake runs, the installed wheel, the browser. Imported as ``_support.x``."""
