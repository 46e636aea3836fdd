import { PeprModule } from "pepr";
// cfg loads the module's Pepr configuration (the "pepr" block) from package.json
import cfg from "./package.json";

import { HelloPeprStoreResources } from "./capabilities/hello-pepr-store-resources";

/**
 * The entrypoint of this Pepr module: registers its one capability with the Pepr runtime.
 */
new PeprModule(cfg, [HelloPeprStoreResources]);
