# Every Cloud Function, in one map (firestore_trigger: the document path pattern whose
# creations trigger it through Eventarc, or null). tests/infra cross-checks it against the code:
# each entry point under functions/ is here, and nothing here is absent there; `trigger_topics`
# and `firestore_trigger` are the routing table's (shared/entrypoints/routing.py); `publishes` is
# exactly what the code can publish (tests/infra/code_routes.py reads it from the AST), and
# `secret_env` names the settings read from Secret Manager (secret id: the name in kebab case).
# Every function that opens a Kite session (ZERODHA_ACCOUNTS) also mounts BROKER_TOKEN_KEY, which
# encrypts the session tokens in Firestore, and BROKER_TOKEN_KEY_PREVIOUS, set only during a key
# rotation (docs/deploy.md); each is mounted once it has a version and is in configured_secrets.
locals {
  functions = {
    webhook = {
      entry_point       = "webhook"
      publishes         = ["standardized-signals", "notifications"] # signals; the passphrase-guessing alert
      trigger_topics    = []
      public            = true # TradingView calls it from the internet
      min_instances     = var.latency_critical_min_instances
      secret_env        = ["ZERODHA_ACCOUNTS", "BROKER_TOKEN_KEY", "BROKER_TOKEN_KEY_PREVIOUS"] # the price collar asks Kite for quotes
      firestore_trigger = null
    }
    cerebro = {
      entry_point = "cerebro"
      # orders; risk refusals to notifications; the book's next signal (book_waits.wake); poison
      publishes         = ["trading-orders", "notifications", "standardized-signals", "standardized-signals-dead-letter"]
      trigger_topics    = ["standardized-signals"]
      public            = false
      min_instances     = var.latency_critical_min_instances
      secret_env        = ["ZERODHA_ACCOUNTS", "BROKER_TOKEN_KEY", "BROKER_TOKEN_KEY_PREVIOUS"] # Kite quotes size Zerodha accounts
      firestore_trigger = null
    }
    execution = {
      entry_point       = "execution"
      publishes         = ["execution-confirmations", "trading-orders-dead-letter", "ibkr-orders"]
      trigger_topics    = ["trading-orders"]
      public            = false
      min_instances     = var.latency_critical_min_instances
      secret_env        = ["ZERODHA_ACCOUNTS", "BROKER_TOKEN_KEY", "BROKER_TOKEN_KEY_PREVIOUS"]
      firestore_trigger = null
    }
    confirmations = {
      entry_point       = "confirmations"
      publishes         = ["execution-confirmations-dead-letter", "standardized-signals"] # wakes signals parked on an order
      trigger_topics    = ["execution-confirmations"]
      public            = false
      min_instances     = 0
      secret_env        = []
      firestore_trigger = null
    }
    notifier = {
      entry_point = "notifier"
      publishes   = []
      # Its own dead letters (notifications-dead-letter) it cannot announce: the archive keeps
      # them and the dead-letter alert policy (monitoring.tf) fires on them.
      trigger_topics = [
        "execution-confirmations", "notifications",
        "standardized-signals-dead-letter", "trading-orders-dead-letter", "execution-confirmations-dead-letter",
        "dashboard-refresh-dead-letter", "ibkr-orders-dead-letter",
      ]
      public            = false
      min_instances     = 0
      secret_env        = ["TELEGRAM_BOT_TOKEN"]
      firestore_trigger = null
    }
    account_poller = {
      entry_point       = "account_poller"
      publishes         = ["standardized-signals", "notifications"] # the recovery sweep; breaks, expired sessions, digests
      trigger_topics    = []
      public            = false
      min_instances     = 0
      secret_env        = ["ZERODHA_ACCOUNTS", "BROKER_TOKEN_KEY", "BROKER_TOKEN_KEY_PREVIOUS"]
      firestore_trigger = null
    }
    dashboard_creator = {
      entry_point       = "dashboard_creator"
      publishes         = [] # derived data: a bad message is dropped, the scheduled refresh repairs it
      trigger_topics    = ["execution-confirmations", "dashboard-refresh"]
      public            = false
      min_instances     = 0
      secret_env        = []
      firestore_trigger = null
    }
    raw_signals = {
      entry_point    = "raw_signals"
      publishes      = ["standardized-signals"]
      trigger_topics = []
      public         = false
      min_instances  = 0
      secret_env     = []
      # Eventarc: documents other writers (the email collector, scripts) create in the raw collection
      firestore_trigger = "trading_signals_raw/{doc}"
    }
    strategy_registry = {
      entry_point = "strategy_registry"
      # POST /api/signals; kill switch, states and flatten alerts; cancels; the Mock's mark moves
      publishes         = ["standardized-signals", "notifications", "trading-orders", "execution-confirmations"]
      trigger_topics    = []
      public            = true # developers and admins call it with API keys, checked by the function
      min_instances     = 0
      secret_env        = ["ZERODHA_ACCOUNTS", "BROKER_TOKEN_KEY", "BROKER_TOKEN_KEY_PREVIOUS"]
      firestore_trigger = null
    }
  }

  # Secret Manager secret (without the environment prefix) behind each secret setting.
  secret_ids = { for env_name in distinct(flatten([for fn in local.functions : fn.secret_env])) : env_name => lower(replace(env_name, "_", "-")) }
  # Only secrets that have a version are mounted: a function cannot start on a `latest` that
  # does not exist. The runbook adds the values, then lists them in configured_secrets.
  mounted_secrets = {
    for name, fn in local.functions : name => {
      for env_name in fn.secret_env : env_name => google_secret_manager_secret.secret[local.secret_ids[env_name]].secret_id
      if contains(var.configured_secrets, local.secret_ids[env_name])
    }
  }

  # Settings every function reads (shared/config.py); secrets are added per function.
  common_env = {
    MT_STORE                            = "firestore"
    MT_BUS                              = "pubsub"
    GOOGLE_CLOUD_PROJECT                = var.project_id
    MT_ENVIRONMENT                      = var.environment
    MT_STRUCTURED_LOGS                  = "1"
    MAX_POSITION_SIZE_PCT               = tostring(var.risk_limits.max_position_size_pct)
    MAX_BROKER_ALLOCATION_PCT           = tostring(var.risk_limits.max_broker_allocation_pct)
    MAX_ACCOUNT_DATA_AGE_SECONDS        = tostring(var.risk_limits.max_account_data_age_seconds)
    PRICE_COLLAR_PCT                    = tostring(var.risk_limits.price_collar_pct)
    MAX_PRICE_AGE_SECONDS               = tostring(var.risk_limits.max_price_age_seconds)
    MAX_ORDER_NOTIONAL                  = tostring(var.risk_limits.max_order_notional)
    MAX_SIGNALS_PER_SECOND_PER_STRATEGY = tostring(var.risk_limits.max_signals_per_second_per_strategy)
    MAX_ORDERS_PER_SECOND_PER_ACCOUNT   = tostring(var.risk_limits.max_orders_per_second_per_account)
    DAILY_LOSS_LIMIT_PCT                = tostring(var.risk_limits.daily_loss_limit_pct)
    DEDUPE_WINDOW_SECONDS               = "10"
    ORDER_CLAIM_LEASE_SECONDS           = "10"
    SWEEP_AFTER_SECONDS                 = "30"
    MOCK_SLIPPAGE_BPS                   = "1"
    MOCK_COMMISSION_PER_UNIT            = "0.005"
    TELEGRAM_CHAT_ID                    = var.telegram_chat_id
    WEBHOOK_IP_ALLOWLIST                = var.webhook_ip_allowlist
    TRUSTED_PROXY_HOPS                  = "1" # Google's front end appends the client's address
  }
}

# The deployable zips come from `python -m devstack.package_functions`, which
# Cloud Build runs before terraform; the content hash in each name makes a code
# change redeploy exactly the functions it touches.
locals {
  packages = jsondecode(file("${var.build_dir}/manifest.json"))
}

resource "google_storage_bucket" "function_source" {
  name                        = "${var.project_id}-${var.environment}-function-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  depends_on                  = [google_project_service.api]

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 10
    }
    action {
      type = "Delete"
    }
  }
  # checkov:skip=CKV_GCP_62: access logs for a deploy-artifact bucket would only record Cloud Build's own reads
}

resource "google_storage_bucket_object" "function_source" {
  for_each = local.functions
  name     = local.packages[each.key]
  bucket   = google_storage_bucket.function_source.name
  source   = "${var.build_dir}/${local.packages[each.key]}"
}

module "function" {
  source   = "../function"
  for_each = local.functions

  project_id            = var.project_id
  region                = var.region
  environment           = var.environment
  name                  = each.key
  entry_point           = each.value.entry_point
  source_bucket         = google_storage_bucket.function_source.name
  source_object         = google_storage_bucket_object.function_source[each.key].name
  environment_variables = local.common_env
  secrets               = local.mounted_secrets[each.key]
  min_instances         = each.value.min_instances
  public                = each.value.public
  service_account_email = google_service_account.function[each.key].email
  firestore_document    = each.value.firestore_trigger
  firestore_database    = google_firestore_database.main.name

  # The Functions, Run, Build and Eventarc APIs first; a mounted secret is readable before deploy.
  depends_on = [google_project_service.api, google_secret_manager_secret_iam_member.function_secret]
}
