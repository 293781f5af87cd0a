terraform {
  required_version = ">= 1.5.0"

  # State lives in a GCS bucket made once per project (docs/deploy.md). Bucket and prefix are
  # given at init time, never written here:
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=promptforge/ENV"
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.50"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
