import type Docker from 'dockerode';
import { pushImage } from '../images/push.js';
import { pinnedReference } from './service-spec.js';

/**
 * Local images as the nodes pull them from the registry: by the digest `build --push` (or this run's build) got
 * back for each, which the engine recorded; an image never pushed there is pushed now. Never by tag alone: the
 * registry may let anyone on the network push, and a tag is whatever was pushed last.
 */
export class PinnedImages {
  /** Local image -> its reference in the registry, by digest. */
  private readonly refs = new Map<string, Promise<string>>();

  constructor(
    private readonly docker: Docker,
    readonly registry: string,
  ) {}

  /** What this run pushed for `image`. */
  pushed(image: string, ref: string): void {
    this.refs.set(image, Promise.resolve(ref));
  }

  get(image: string): Promise<string> {
    let ref = this.refs.get(image);
    if (!ref) {
      ref = (async () => {
        const recorded = await this.docker
          .getImage(image)
          .inspect()
          .then(
            (i) => i.RepoDigests ?? [],
            () => [],
          );
        return (
          pinnedReference(image, this.registry, recorded) ??
          (await pushImage(this.docker, image, this.registry, () => {}))
        );
      })();
      ref.catch(() => this.refs.delete(image));
      this.refs.set(image, ref);
    }
    return ref;
  }
}
