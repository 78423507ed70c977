"""Thin HTTP handlers: parse the request, call a service, render. No SQL lives here."""
