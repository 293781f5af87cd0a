# Cloud Build triggers that run cloudbuild.yaml for this environment. With approval required
# (always in prod), the deploy build waits in Cloud Build until someone holding
# roles/cloudbuild.builds.approver approves it; a plan-only trigger without approval lets
# reviewers read the plan first. The deployer service account is made by docs/deploy.md, not
# here: it is the identity that runs Terraform.

locals {
  require_approval = var.environment == "prod" || try(var.deploy_trigger.require_approval, false)

  # deploy always; plan-only beside it when deploys wait for approval.
  trigger_builds = {
    for name, build in {
      deploy = { apply = "true", approval = local.require_approval }
      plan   = { apply = "false", approval = false }
    } : name => build
    if var.deploy_trigger != null && (name == "deploy" || local.require_approval)
  }
}

resource "google_cloudbuild_trigger" "this" {
  for_each = local.trigger_builds

  project         = var.project_id
  location        = var.region
  name            = "${local.prefix}-${each.key}"
  description     = "PromptForge ${var.environment}: lint, test, package, terraform ${each.value.apply == "true" ? "plan and apply" : "plan only"}."
  filename        = "cloudbuild.yaml"
  service_account = "projects/${var.project_id}/serviceAccounts/${var.deploy_trigger.service_account_email}"

  repository_event_config {
    repository = var.deploy_trigger.repository
    push {
      branch = var.deploy_trigger.branch
      tag    = var.deploy_trigger.tag
    }
  }

  substitutions = {
    _ENV             = var.environment
    _REGION          = var.region
    _TF_STATE_BUCKET = var.deploy_trigger.state_bucket
    _APPLY           = each.value.apply
  }

  approval_config {
    approval_required = each.value.approval
  }

  depends_on = [google_project_service.this]
}
