// Changes a run makes to a cluster that is not its own (USE_EXISTING_CLUSTER=true): each one is
// announced before it is made, and undo() removes, in reverse order, what the run created.
// Objects that were already there are never changed, only reported.
import type { KubernetesObject } from "@kubernetes/client-node";

import type { ControlPlane } from "./controlplane";
import { createObject, deleteObject, describeObject, isStatus, objectApi } from "./kube";

/** What a run changed, so that undo() can remove what it created. */
export class ClusterChanges {
  readonly #undo: { what: string; run: () => Promise<unknown> }[] = [];

  /**
   * @param cp - the cluster
   * @param announce - prints one line (before each change, and for each undo)
   */
  constructor(
    readonly cp: Pick<ControlPlane, "kubeconfig">,
    readonly announce: (line: string) => void,
  ) {}

  /** Whether `object` exists (read by kind, namespace and name). */
  async exists(object: KubernetesObject): Promise<boolean> {
    try {
      await objectApi(this.cp).read({
        apiVersion: object.apiVersion ?? "",
        kind: object.kind ?? "",
        metadata: { name: object.metadata?.name ?? "", namespace: object.metadata?.namespace },
      });
      return true;
    } catch (err) {
      if (isStatus(err, 404)) return false;
      throw err;
    }
  }

  /** Creates `object` unless it exists (then it is left as it is); returns whether it created it. */
  async ensure(object: KubernetesObject): Promise<boolean> {
    if (await this.exists(object)) {
      this.announce(`${describeObject(object)} exists: using it as it is`);
      return false;
    }
    this.announce(`creating ${describeObject(object)} (removed on exit)`);
    await createObject(this.cp, object);
    this.willUndo(object);
    return true;
  }

  /** Creates `object` (it must not exist) and deletes it on exit. */
  async create(object: KubernetesObject): Promise<void> {
    this.announce(`creating ${describeObject(object)} (removed on exit)`);
    await createObject(this.cp, object);
    this.willUndo(object);
  }

  /** Deletes `object` if it exists, saying why; this is not undone. */
  async remove(object: KubernetesObject, why: string): Promise<void> {
    if (!(await this.exists(object))) return;
    this.announce(`deleting ${describeObject(object)}: ${why}`);
    await deleteObject(this.cp, object);
  }

  /**
   * Announces that someone else (the watcher) will create `object`, or write to it if it exists,
   * and deletes it on exit if it did not exist before.
   */
  async expect(object: KubernetesObject, who: string): Promise<void> {
    if (await this.exists(object)) {
      this.announce(`${who} will write to ${describeObject(object)} (exists: kept on exit)`);
      return;
    }
    this.announce(`${who} will create ${describeObject(object)} (removed on exit)`);
    this.willUndo(object);
  }

  /** Deletes `object` on exit. */
  willUndo(object: KubernetesObject): void {
    this.#undo.push({
      what: describeObject(object),
      run: () => deleteObject(this.cp, object),
    });
  }

  /**
   * Deletes what the run created, newest first; idempotent.
   *
   * @throws AggregateError with every deletion that failed (the others are still made)
   */
  async undo(): Promise<void> {
    const errors: unknown[] = [];
    for (let step = this.#undo.pop(); step; step = this.#undo.pop()) {
      this.announce(`deleting ${step.what} (created by this run)`);
      try {
        await step.run();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "undoing this run's changes failed");
  }
}
