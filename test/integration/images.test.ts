/** `labctl images save` / `load`: the class's images carried to an engine that has none (a Swarm node, say). */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labctl, labctlCtrlC, labctlJson } from '../helpers/cli.js';
import { startTestDockerd, testDockerdUnavailable, type TestDockerd } from '../helpers/dockerd.js';

describe('labctl images save and load', { timeout: 600_000, skip: testDockerdUnavailable() }, () => {
  let engine: TestDockerd;
  let dir: string;
  let built: { mail: string; sidecar: string };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-swimages-'));
    built = await labctlJson<{ mail: string; sidecar: string }>(['build']);
    engine = await startTestDockerd({ networks: 1 });
  });
  after(async () => {
    await engine?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the lab's mail and sidecar images to one archive, which an engine without them loads", async () => {
    const file = path.join(dir, 'images.tar');
    const saved = await labctlJson<{ file: string; images: string[]; bytes: number }>(['images', 'save', '-o', file]);
    assert.deepEqual(saved.images, [built.mail, built.sidecar]);
    assert.ok(saved.bytes > 50 * 1024 ** 2, `${saved.bytes} bytes`);
    // The other engine has neither image before, both after.
    await assert.rejects(engine.docker.getImage(built.mail).inspect(), /no such image/i);
    const load = await labctl(['images', 'load', file], undefined, engine.env);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, new RegExp(`Loaded ${built.mail.replace(/[.]/g, '\\.')}, ${built.sidecar}`));
    for (const ref of [built.mail, built.sidecar]) {
      assert.equal((await engine.docker.getImage(ref).inspect()).RepoTags?.includes(ref), true, ref);
    }
  });

  it('refuses a missing archive and one that is not an image archive, and says what to do', async () => {
    const missing = await labctl(['images', 'load', path.join(dir, 'none.tar')], undefined, engine.env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /No archive at .*none\.tar\.\n.*labctl images save -o FILE/);
    const bad = path.join(dir, 'bad.tar');
    await writeFile(bad, 'not a tar\n');
    const refused = await labctl(['images', 'load', bad], undefined, engine.env);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /Failed to load images/);
    const noOutput = await labctl(['images', 'save']);
    assert.equal(noOutput.code, 2);
    assert.match(noOutput.stderr, /-o, --output <file>/);
  });

  it('Ctrl-C during save leaves neither the archive nor a partial one; during load, the engine tags nothing', async () => {
    const out = path.join(dir, 'cut');
    await mkdir(out);
    const file = path.join(out, 'images.tar');
    const save = await labctlCtrlC(['images', 'save', '-o', file], async () =>
      stat(`${file}.partial`).then(
        (s) => s.size > 0,
        () => false,
      ),
    );
    assert.equal(save.code, 130, save.stderr);
    assert.match(save.stderr, /Interrupted\./);
    assert.ok(save.ms < 5_000, `${save.ms} ms`);
    assert.deepEqual(await readdir(out), []);

    const whole = path.join(dir, 'images.tar');
    await stat(whole).catch(() => labctlJson(['images', 'save', '-o', whole]));
    // The engine has neither image (the first test loaded them).
    for (const ref of [built.mail, built.sidecar])
      await engine.docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => {});
    const load = await labctlCtrlC(
      ['images', 'load', whole],
      async ({ stderr }) => /Loading .*images\.tar into/.test(stderr),
      engine.env,
    );
    assert.equal(load.code, 130, load.stderr);
    assert.match(load.stderr, /Interrupted\./);
    assert.doesNotMatch(load.stderr, /Failed to load/);
    await assert.rejects(engine.docker.getImage(built.mail).inspect(), /no such image/i);
  });
});
