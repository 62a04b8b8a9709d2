// The mixin's knobs. Override them the usual way:
//   (import 'sync-exporter-mixin/mixin.libsonnet') + { _config+:: { selector: 'job="sync"' } }
// Defaults are the repository's alerts/config.yml (generated/defaults.json), so the mixin
// evaluated as it is gives exactly alerts/btsync.rules.yml and grafana/*.json.
local defaults = import 'generated/defaults.json';
{
  _config+:: {
    // Label matchers selecting the exporter's series and its `up`, as they go between braces.
    selector: defaults.selector,
    // Base of each alert's runbook_url; "#<alert name in lower case>" is appended. Point it at a
    // page your people can open, e.g. the exporter's own http://<exporter>:9888/runbook.
    runbookBase: defaults.runbook_url,
    // Labels added to every alert, e.g. { team: 'storage' }.
    alertLabels: defaults.labels,
    // Per alert: enabled, severity and for. Windows, horizons and ages are written into the
    // expressions by the generator: change them in a tunables file and regenerate (README.md).
    alerts: defaults.alerts,
    // Grafana: tags added to every dashboard.
    dashboardTags: [],
  },
}
