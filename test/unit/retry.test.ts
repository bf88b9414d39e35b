import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { removeContainer } from '../../src/docker/local/containers.js';
import { retry, until } from '../../src/docker/retry.js';

describe('retry and until, how the engines wait for Docker', () => {
  const busy = () => Object.assign(new Error('network has active endpoints'), { statusCode: 409 });

  it('tries again while the error is retryable, and gives the result once a try succeeds', async () => {
    let tries = 0;
    const result = await retry(() => (++tries < 3 ? Promise.reject(busy()) : Promise.resolve('removed')), {
      tries: 5,
      retryable: (e) => (e as { statusCode?: number }).statusCode === 409,
    });
    assert.equal(result, 'removed');
    assert.equal(tries, 3);
  });

  it('throws the last error after the tries, and any other error at once', async () => {
    let tries = 0;
    const options = { tries: 4, retryable: (e: unknown) => (e as { statusCode?: number }).statusCode === 409 };
    await assert.rejects(
      retry(() => (tries++, Promise.reject(busy())), options),
      /active endpoints/,
    );
    assert.equal(tries, 4);
    tries = 0;
    await assert.rejects(
      retry(() => (tries++, Promise.reject(new Error('no such network'))), options),
      /no such network/,
    );
    assert.equal(tries, 1);
  });

  it('until: yes once the state is reached, no when the time is up (asked at least once)', async () => {
    let asked = 0;
    assert.equal(await until(() => Promise.resolve(++asked === 3), { timeoutMs: 10_000, intervalMs: 1 }), true);
    assert.equal(asked, 3);
    asked = 0;
    assert.equal(await until(() => Promise.resolve(++asked < 0), { timeoutMs: 0, intervalMs: 1 }), false);
    assert.ok(asked >= 1);
  });
});

describe('removing a container under load', () => {
  const zombie = (id: string) =>
    Object.assign(new Error('(HTTP code 500) server error'), {
      statusCode: 500,
      json: {
        message: `Could not kill running container ${id}, cannot remove - container ${id} PID 17318 is zombie and can not be killed. Use the --init option when creating containers to run an init inside the container that forwards signals and reaps processes`,
      },
    });
  const engineWith = (remove: () => Promise<unknown>) =>
    ({ getContainer: () => ({ remove }) }) as unknown as Parameters<typeof removeContainer>[0];

  it('asks again while the engine has not reaped the container yet (seen with 150 students on two cores)', async () => {
    let tries = 0;
    await removeContainer(
      engineWith(() => (++tries < 3 ? Promise.reject(zombie('c42c7add652a')) : Promise.resolve())),
      'labctl-bench-s148-sidecar',
      1,
    );
    assert.equal(tries, 3);
  });

  it('says what failed, at once, for any other error', async () => {
    let tries = 0;
    const other = Object.assign(new Error('boom'), { statusCode: 500, json: { message: 'driver failed' } });
    await assert.rejects(
      removeContainer(
        engineWith(() => (tries++, Promise.reject(other))),
        'labctl-x-s1-mail',
        1,
      ),
      /Failed to remove container labctl-x-s1-mail: driver failed/,
    );
    assert.equal(tries, 1);
  });
});
