#!/bin/bash
# One command per step of docs/deploy.md, from an empty GCP project to a running fund.
#
#   infra/bootstrap.sh project  ENV PROJECT BILLING_ACCOUNT   # project, billing, APIs, state bucket, registry, deployer
#   infra/bootstrap.sh secrets  ENV PROJECT                   # terraform creates the (empty) secrets
#   infra/bootstrap.sh secret   ENV PROJECT NAME < value      # adds a secret's value (stdin, never an argument)
#   infra/bootstrap.sh triggers ENV PROJECT OWNER REPO        # the Cloud Build trigger of ENV
#   infra/bootstrap.sh deploy   ENV PROJECT                   # runs cloudbuild.yaml now and applies
#   infra/bootstrap.sh admin    ENV PROJECT NAME              # the first admin API key (printed once)
#   infra/bootstrap.sh urls     ENV PROJECT                   # webhook, registry and dashboards URLs
#   infra/bootstrap.sh check    ENV PROJECT                   # what exists so far, step by step
#
# ENV is staging or production; each environment has its own project. REGION (default
# us-central1) may be exported. Needs gcloud (logged in) and terraform; `admin` needs the
# repository's .venv (make install) and application-default credentials.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 3 ] || usage
command="$1" env="$2" project="$3"
shift 3
case "$env" in staging | production) ;; *) echo "ENV must be staging or production, not $env" >&2; exit 2 ;; esac

region="${REGION:-us-central1}"
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
tf_dir="$repo_root/infra/terraform/environments/$env"
state_bucket="$project-tfstate"
deployer="terraform-deployer@$project.iam.gserviceaccount.com"

say() { printf '==> %s\n' "$*"; }

tf_init() {
  terraform -chdir="$tf_dir" init -input=false -reconfigure -backend-config="bucket=$state_bucket" >/dev/null
}

case "$command" in
  project)
    [ $# -eq 1 ] || usage
    billing="$1"
    gcloud projects describe "$project" >/dev/null 2>&1 || gcloud projects create "$project"
    gcloud billing projects link "$project" --billing-account="$billing"
    say "APIs Terraform and Cloud Build need before Terraform can enable the rest"
    gcloud services enable --project="$project" serviceusage.googleapis.com cloudresourcemanager.googleapis.com \
      iam.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com storage.googleapis.com \
      secretmanager.googleapis.com cloudbilling.googleapis.com billingbudgets.googleapis.com
    say "Terraform state bucket gs://$state_bucket (versioned)"
    gcloud storage buckets describe "gs://$state_bucket" >/dev/null 2>&1 ||
      gcloud storage buckets create "gs://$state_bucket" --project="$project" --location="$region" \
        --uniform-bucket-level-access --public-access-prevention
    gcloud storage buckets update "gs://$state_bucket" --versioning
    say "Docker repository for the dashboards image"
    gcloud artifacts repositories describe mathematricks --project="$project" --location="$region" >/dev/null 2>&1 ||
      gcloud artifacts repositories create mathematricks --project="$project" --repository-format=docker \
        --location="$region"
    say "The deployer identity Cloud Build runs Terraform as"
    gcloud iam service-accounts describe "$deployer" --project="$project" >/dev/null 2>&1 ||
      gcloud iam service-accounts create terraform-deployer --project="$project" --display-name="Terraform (Cloud Build)"
    for role in roles/editor roles/resourcemanager.projectIamAdmin roles/secretmanager.admin roles/run.admin \
      roles/iap.admin roles/logging.logWriter; do
      gcloud projects add-iam-policy-binding "$project" --member="serviceAccount:$deployer" --role="$role" \
        --condition=None >/dev/null
    done
    gcloud billing accounts add-iam-policy-binding "$billing" --member="serviceAccount:$deployer" \
      --role=roles/billing.costsManager >/dev/null ||
      echo "could not grant billing.costsManager (needs a billing admin): leave billing_account empty until it is" >&2
    say "done: edit $tf_dir/terraform.tfvars next"
    ;;

  secrets)
    [ -d "$repo_root/build/functions" ] || (cd "$repo_root" && .venv/bin/python -m devstack.package_functions --out build/functions)
    tf_init
    say "Terraform creates the APIs and the empty secrets only"
    terraform -chdir="$tf_dir" apply -input=false -auto-approve \
      -var="project_id=$project" -var="region=$region" -var="dashboard_image=unused-in-this-step" \
      -target=module.platform.google_secret_manager_secret.secret \
      -target=module.platform.google_secret_manager_secret.ib_login
    gcloud secrets list --project="$project" --format='value(name)'
    ;;

  secret)
    [ $# -eq 1 ] || usage
    [ ! -t 0 ] || { echo "pipe the value on stdin: printf '%s' \"\$VALUE\" | $0 secret $env $project $1" >&2; exit 2; }
    gcloud secrets versions add "$env-$1" --project="$project" --data-file=-
    say "now list \"$1\" in configured_secrets in $tf_dir/terraform.tfvars (IB secrets excepted) and deploy"
    ;;

  triggers)
    [ $# -eq 2 ] || usage
    owner="$1" repo="$2"
    if [ "$env" = staging ]; then event=(--branch-pattern='^main$'); else event=(--tag-pattern='^v.*$'); fi
    gcloud builds triggers create github --project="$project" --region=global --name="deploy-$env" \
      --repo-owner="$owner" --repo-name="$repo" "${event[@]}" --build-config=cloudbuild.yaml \
      --service-account="projects/$project/serviceAccounts/$deployer" \
      --substitutions="_ENVIRONMENT=$env,_TF_STATE_BUCKET=$state_bucket,_REGION=$region"
    ;;

  deploy)
    say "Cloud Build: tests, packages, image, terraform plan and apply for $env"
    (cd "$repo_root" && gcloud builds submit --project="$project" --config=cloudbuild.yaml \
      --service-account="projects/$project/serviceAccounts/$deployer" \
      --substitutions="_ENVIRONMENT=$env,_TF_STATE_BUCKET=$state_bucket,_REGION=$region,_APPLY=true" .)
    ;;

  admin)
    [ $# -eq 1 ] || usage
    (cd "$repo_root" && MT_STORE=firestore GOOGLE_CLOUD_PROJECT="$project" MT_ENV_FILE='' \
      .venv/bin/python -m devstack.keys issue admin "$1" --label "first admin")
    ;;

  urls)
    tf_init
    for output in webhook_url registry_url dashboards_url; do
      printf '%-15s %s\n' "$output" "$(terraform -chdir="$tf_dir" output -raw "$output")"
    done
    ;;

  check)
    ok() { printf '  ok   %s\n' "$1"; }
    no() { printf '  MISSING %s\n' "$1"; }
    say "$env in $project"
    if gcloud storage buckets describe "gs://$state_bucket" >/dev/null 2>&1; then ok "state bucket"; else no "state bucket"; fi
    for secret in telegram-bot-token zerodha-accounts ib-username ib-password; do
      if [ -n "$(gcloud secrets versions list "$env-$secret" --project="$project" --filter=state:ENABLED --limit=1 \
        --format='value(name)' 2>/dev/null)" ]; then ok "secret $env-$secret has a value"; else no "secret $env-$secret value"; fi
    done
    active="$(gcloud functions list --project="$project" --v2 --filter="name~$env- AND state=ACTIVE" \
      --format='value(name)' 2>/dev/null | wc -l)"
    if [ "$active" -ge 9 ]; then ok "$active functions ACTIVE"; else no "functions: $active of 9 ACTIVE"; fi
    webhook="$(gcloud functions describe "$env-webhook" --project="$project" --region="$region" --v2 \
      --format='value(serviceConfig.uri)' 2>/dev/null || true)"
    if [ -n "$webhook" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$webhook/webhook")" = 405 ]; then
      ok "webhook answers GET /webhook with 405"
    else
      no "webhook answering"
    fi
    ;;

  *) usage ;;
esac
