# Operations: an uptime check on the webhook, log-based metrics from the signal journey
# (shared/journey.py: one JSON line per step on stdout, {severity, service, signal_id,
# message}, which Cloud Logging keeps as jsonPayload) and from the bridge's health check,
# the alert policies, and a budget.

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_emails)
  project      = var.project_id
  display_name = "${var.environment} alerts: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
  depends_on = [google_project_service.api]
}

locals {
  alert_channels = concat([for channel in google_monitoring_notification_channel.email : channel.id], var.notification_channels)
  # Every function's Cloud Run service is "<environment>-<name>" (modules/function).
  functions_filter = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=~\"^${var.environment}-\""
  journey_filter   = "${local.functions_filter} AND jsonPayload.signal_id:*"

  # The journey's steps (the services' Journey("...").step lines) as counters.
  journey_metrics = {
    signals_accepted   = { service = "WEBHOOK", pattern = ": accepted from ", what = "Signals accepted by the webhook or the API" }
    signals_refused    = { service = "WEBHOOK", pattern = "refused [0-9]{3} ", what = "Deliveries refused with a 4xx (refused_deliveries)" }
    decisions_rejected = { service = "CEREBRO", pattern = ": rejected - ", what = "Per-account decisions cerebro rejected" }
    orders_placed      = { service = "EXECUTION", pattern = ": (submitted|filled|partially_filled|accepted)", what = "Orders a broker took" }
    orders_rejected    = { service = "EXECUTION", pattern = ": rejected", what = "Orders a broker rejected" }
    fills              = { service = "POSITIONS", pattern = " filled ", what = "Fills recorded" }
    signals_swept      = { service = "RECOVERY", pattern = "^swept: ", what = "Signals the tick's sweep republished (a lost step)" }
  }
}

resource "google_logging_metric" "journey" {
  for_each    = local.journey_metrics
  project     = var.project_id
  name        = "${var.environment}/journey/${each.key}"
  description = each.value.what
  filter      = "${local.journey_filter} AND jsonPayload.service=\"${each.value.service}\" AND jsonPayload.message=~\"${each.value.pattern}\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
  depends_on = [google_project_service.api]
}

# Dead letters: poison a function or the bridge dead-letters itself ("dead-lettering ..." in
# shared/entrypoints/pubsub.py and shared/adapters/bus_pubsub.py).
resource "google_logging_metric" "dead_lettered" {
  project     = var.project_id
  name        = "${var.environment}/dead_lettered"
  description = "Messages the code sent to a dead-letter topic"
  filter      = "(${local.functions_filter} OR log_id(\"journald\")) AND (jsonPayload.message=~\"^dead-lettering \" OR jsonPayload.MESSAGE=~\"dead-lettering \")"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
  depends_on = [google_project_service.api]
}

# Cerebro refusing new risk on an old snapshot, and the poller failing to take one.
resource "google_logging_metric" "stale_account_data" {
  project     = var.project_id
  name        = "${var.environment}/stale_account_data"
  description = "Decisions refused on account data older than MAX_ACCOUNT_DATA_AGE_SECONDS, and failed snapshots"
  filter      = "${local.functions_filter} AND (jsonPayload.message=~\"account data is [0-9]+s old\" OR jsonPayload.message=~\"^snapshot of .+ failed\")"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
  depends_on = [google_project_service.api]
}

# The VM's health timer (gateway_vm/healthcheck.sh) logs to the journal as mt-ibkr-bridge when
# the bridge is disconnected from IB Gateway or does not answer; the Ops Agent ships the journal.
resource "google_logging_metric" "bridge_unhealthy" {
  project     = var.project_id
  name        = "${var.environment}/bridge_unhealthy"
  description = "IBKR bridge health checks that found it disconnected or hung"
  filter      = "log_id(\"journald\") AND jsonPayload.SYSLOG_IDENTIFIER=\"mt-ibkr-bridge\" AND jsonPayload.MESSAGE=~\"disconnected from IB Gateway|did not answer\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
  depends_on = [google_project_service.api]
}

# Reconciliation breaks that survived two polls (shared/services/account_poller.py): counted
# from the warning "reconciliation break in ..." the account poller writes when a break survives two polls.
resource "google_logging_metric" "reconciliation_breaks" {
  project     = var.project_id
  name        = "${var.environment}/reconciliation_breaks"
  description = "Reconciliation breaks confirmed by a second poll"
  filter      = "(${local.functions_filter} OR log_id(\"journald\")) AND (jsonPayload.message=~\"reconciliation break\" OR jsonPayload.MESSAGE=~\"reconciliation break\")"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
  depends_on = [google_project_service.api]
}

# GET /webhook answers 405 method_not_allowed without touching the store: the function is
# up and its code loads (a cold start included), and no refusal is recorded.
resource "google_monitoring_uptime_check_config" "webhook" {
  project      = var.project_id
  display_name = "${var.environment} webhook"
  timeout      = "10s"
  period       = "300s"

  http_check {
    path           = "/webhook"
    port           = 443
    use_ssl        = true
    validate_ssl   = true
    request_method = "GET"
    accepted_response_status_codes {
      status_value = 405
    }
  }

  content_matchers {
    content = "method_not_allowed"
    matcher = "CONTAINS_STRING"
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = trimsuffix(trimprefix(module.function["webhook"].uri, "https://"), "/")
    }
  }
}

locals {
  # policy -> the log-based metric it watches, the count (per 10 minutes) it may reach, and why it matters
  log_alerts = {
    dead-letters          = { metric = google_logging_metric.dead_lettered.name, threshold = 0, why = "A message was dead-lettered: inspect <topic>-dead-letter-archive, fix, replay." }
    stale-account-data    = { metric = google_logging_metric.stale_account_data.name, threshold = 0, why = "Account snapshots are failing or old: new risk is refused for those accounts." }
    bridge-unhealthy      = { metric = google_logging_metric.bridge_unhealthy.name, threshold = 5, why = "The IBKR bridge is disconnected for over 5 minutes (the weekly 2FA login? see gateway_vm/README.md)." }
    reconciliation-breaks = { metric = google_logging_metric.reconciliation_breaks.name, threshold = 0, why = "A broker position differs from ours for two polls: see the Accounts page." }
  }
}

resource "google_monitoring_alert_policy" "log_based" {
  for_each              = local.log_alerts
  project               = var.project_id
  display_name          = "${var.environment}: ${each.key}"
  combiner              = "OR"
  notification_channels = local.alert_channels
  documentation {
    content   = each.value.why
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "${each.key} above ${each.value.threshold} in 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${each.value.metric}\""
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }
}

# Pub/Sub itself moving a message to a dead-letter topic after its 15 attempts (the log-based
# policy above covers poison the code dead-letters).
resource "google_monitoring_alert_policy" "pubsub_dead_letters" {
  project               = var.project_id
  display_name          = "${var.environment}: messages forwarded to dead letters"
  combiner              = "OR"
  notification_channels = local.alert_channels
  documentation {
    content   = "Pub/Sub gave up on a delivery after 15 attempts: inspect <topic>-dead-letter-archive."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "dead_letter_message_count above 0"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.type=\"pubsub_subscription\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "function_errors" {
  project               = var.project_id
  display_name          = "${var.environment}: function 5xx answers"
  combiner              = "OR"
  notification_channels = local.alert_channels
  documentation {
    content   = "Functions answer 5xx: a delivery failed and will be retried. Logs: resource.labels.service_name=~\"^${var.environment}-\" severity>=ERROR."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "5xx above ${var.alert_thresholds.function_5xx_per_5min} in 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND metric.labels.response_code_class=\"5xx\" AND resource.labels.service_name=starts_with(\"${var.environment}-\")"
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.function_5xx_per_5min
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }
  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "order_latency" {
  project               = var.project_id
  display_name          = "${var.environment}: order latency p99"
  combiner              = "OR"
  notification_channels = local.alert_channels
  documentation {
    content   = "The execution function's p99 request latency (placing an order at the broker) is above ${var.alert_thresholds.order_latency_p99_ms} ms."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "execution p99 above ${var.alert_thresholds.order_latency_p99_ms} ms for 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_latencies\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${var.environment}-execution\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.order_latency_p99_ms
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }
  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "webhook_down" {
  project               = var.project_id
  display_name          = "${var.environment}: webhook uptime"
  combiner              = "OR"
  notification_channels = local.alert_channels
  documentation {
    content   = "The webhook did not answer GET /webhook with 405 from two or more checker regions: TradingView alerts are being lost."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "uptime check failing"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.labels.check_id=\"${google_monitoring_uptime_check_config.webhook.uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.labels.host"]
      }
    }
  }
}

# Optional: set billing_account in terraform.tfvars to get budget mails at 50, 90 and 100 %.
resource "google_billing_budget" "monthly" {
  count           = var.billing_account == "" ? 0 : 1
  billing_account = var.billing_account
  display_name    = "${var.environment} (${var.project_id}) monthly"

  budget_filter {
    projects = ["projects/${data.google_project.this.number}"]
  }
  amount {
    specified_amount {
      units = tostring(var.monthly_budget)
    }
  }
  dynamic "threshold_rules" {
    for_each = [0.5, 0.9, 1.0]
    content {
      threshold_percent = threshold_rules.value
    }
  }
  all_updates_rule {
    monitoring_notification_channels = local.alert_channels
    disable_default_iam_recipients   = false
  }
  depends_on = [google_project_service.api]
}
