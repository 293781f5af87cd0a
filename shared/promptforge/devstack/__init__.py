"""Local stand-ins for Google Cloud (dev tooling: never imported by a deployed function).

``front_end`` plays Cloud Run's front end (and Cloud Tasks' OIDC token) in front of a
private function served by functions-framework.
"""
