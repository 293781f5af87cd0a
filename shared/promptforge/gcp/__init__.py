"""Google Cloud adapters of the core's ports (Firestore, GCS, Cloud Tasks, Secret Manager).

Importing a submodule imports its google-cloud-* client library; the core never imports
this package. Install the ``gcp`` extra to use it.
"""
