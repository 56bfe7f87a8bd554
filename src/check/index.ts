// The checker behind `noon-connect check`: drives any integrator application, in any language, through Noon's
// go-live checklist against the sandbox, acting as the seller's browser, and reports PASS, FAIL or WARN per check
// with evidence.

export { type CheckOptions, DEFAULT_SUCCESS, parseStatusList } from './options.js';
export { renderJunit, renderText } from './report.js';
export { type AppConfig, CHECK_SWITCHES, type RunHooks, runCheck } from './runner.js';
export {
  type CaseResult,
  CHECK_IDS,
  type CheckId,
  type CheckReport,
  type CheckResult,
  type Outcome,
  type SuccessCriterion,
} from './types.js';
