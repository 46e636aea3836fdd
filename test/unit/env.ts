// Pepr decides at import time which bindings a Capability records (src/lib/core/capability.ts):
// watch bindings only when PEPR_WATCH_MODE=true or PEPR_MODE=build. Build mode registers both
// admission (Mutate/Validate) and watch bindings, which is what lets the tests prove that this
// capability has a watch and nothing else. Jest runs this file before each test file.
process.env.PEPR_MODE = "build";

// Pepr's logger reads LOG_LEVEL at import (src/lib/telemetry/logger.ts). Pin it so the records
// the tests assert do not depend on the caller's environment.
process.env.LOG_LEVEL = "info";
