// sync-exporter monitoring mixin: prometheusAlerts, prometheusRules and grafanaDashboards.
//
// Built from the repository's own alert rules and dashboards (copied into generated/ by
// `python mixin/generate.py`, which a test keeps in step), then shaped by _config. Nothing
// here restates a rule or a panel, so the mixin cannot drift from alerts/ and grafana/.
local defaults = import 'generated/defaults.json';
local shipped = import 'generated/btsync.rules.json';

// Every occurrence of `from` in `text` replaced by `to` (a no-op when they are equal).
local swap(text, from, to) = if from == to then text else std.strReplace(text, from, to);

// A Prometheus duration ("90m", "1h30m", "500ms") in milliseconds, and back in the one unit
// that divides it, days only from a week up: the rule generator's own spelling, so a `for`
// written as 60m reads 1h in the rules, as it would from alerts/config.yml.
local unitMs = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, y: 31536000000 };
local parseDuration(text) =
  local step(state, char) =
    if std.member('0123456789', char) then
      if state.unit == '' then state { number: state.number * 10 + std.parseInt(char) }
      else state { total: state.total + state.number * unitMs[state.unit], number: std.parseInt(char), unit: '' }
    else state { unit: state.unit + char };
  local final = std.foldl(step, std.stringChars(text), { total: 0, number: 0, unit: '' });
  final.total + final.number * unitMs[final.unit];
local formatDuration(ms) =
  if ms >= 7 * unitMs.d && ms % unitMs.d == 0 then '%dd' % (ms / unitMs.d)
  else if ms % unitMs.h == 0 then '%dh' % (ms / unitMs.h)
  else if ms % unitMs.m == 0 then '%dm' % (ms / unitMs.m)
  else if ms % unitMs.s == 0 then '%ds' % (ms / unitMs.s)
  else '%dms' % ms;
local normalize(duration) = formatDuration(parseDuration(duration));

local withConfig(cfg, rule) =
  local name = rule.alert;
  local wanted = cfg.alerts[name];
  local before = defaults.alerts[name]['for'];
  local after = normalize(wanted['for']);
  // The texts say how long the condition has held ("for 5m"), and some look it up over that
  // same range ("[5m]").
  local text(s) = swap(swap(swap(s, defaults.selector, cfg.selector), 'for ' + before, 'for ' + after), '[' + before + ']', '[' + after + ']');
  rule {
    expr: swap(rule.expr, defaults.selector, cfg.selector),
    'for': after,
    labels: rule.labels + cfg.alertLabels + { severity: wanted.severity },
    annotations: std.mapWithKey(
      function(key, value)
        if key == 'runbook_url' then cfg.runbookBase + '#' + std.asciiLower(name) else text(value),
      rule.annotations
    ),
  };

local recording(cfg, rule) = rule { expr: swap(rule.expr, defaults.selector, cfg.selector) };

local dashboard(cfg, board) =
  // The dashboards pick the job from btsync_up; a custom selector narrows that choice.
  local jobQuery = 'label_values(btsync_up, job)';
  local narrowed = 'label_values(btsync_up{' + cfg.selector + '}, job)';
  local variable(v) =
    if v.name == 'job' && cfg.selector != defaults.selector then
      v + { query: if std.isString(v.query) then swap(v.query, jobQuery, narrowed) else v.query + { query: swap(v.query.query, jobQuery, narrowed) } } +
      (if std.objectHas(v, 'definition') then { definition: swap(v.definition, jobQuery, narrowed) } else {})
    else v;
  board {
    tags: board.tags + [t for t in cfg.dashboardTags if !std.member(board.tags, t)],
    templating+: { list: [variable(v) for v in board.templating.list] },
  };

(import 'config.libsonnet') + {
  local cfg = self._config,
  local group = shipped.groups[0],

  prometheusRules+:: {
    groups+: [{
      name: group.name + '-recording',
      rules: [recording(cfg, r) for r in group.rules if std.objectHas(r, 'record')],
    }],
  },

  prometheusAlerts+:: {
    groups+: [{
      name: group.name,
      rules: [
        withConfig(cfg, r)
        for r in group.rules
        if std.objectHas(r, 'alert') && cfg.alerts[r.alert].enabled
      ],
    }],
  },

  grafanaDashboards+:: {
    [name]: dashboard(cfg, (import 'generated/dashboards.json')[name])
    for name in std.objectFields(import 'generated/dashboards.json')
  },
}
