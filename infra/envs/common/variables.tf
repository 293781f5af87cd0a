variable "deploy_trigger" {
  type = object({
    repository            = string
    branch                = optional(string)
    tag                   = optional(string)
    service_account_email = string
    state_bucket          = string
    require_approval      = optional(bool, false)
  })
  description = "Cloud Build trigger for this environment (see docs/deploy.md); null creates none."
  default     = null
}

variable "project_id" {
  type        = string
  description = "Google Cloud project of this environment."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lower-case letters, digits or hyphens."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, buckets and queues."
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}
