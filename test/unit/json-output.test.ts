import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reporter } from '../../src/ui/reporter.js';

/**
 * With --json, stdout holds one JSON document. Its own file: which stream an error goes to depends on whether this
 * process printed a result before it, as `status` prints the class and then fails for students with no server.
 */
describe('--json: one document on stdout', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    const reporter = new Reporter({
      json: true,
      stdout: { isTTY: false, write: (chunk) => out.push(String(chunk)) },
      stderr: { isTTY: false, write: (chunk) => err.push(String(chunk)) },
    });
    return { reporter, out, err };
  };
  const error = { error: { code: 'no-server', message: 'student 2 of class c: no sidecar' } };

  it('an error before any result is the document on stdout', () => {
    const { reporter, out, err } = capture();
    reporter.failure({ message: 'm' }, error);
    assert.deepEqual(JSON.parse(out.join('')), error);
    assert.equal(err.join(''), '');
  });

  it('an error after a result goes to stderr: stdout stays one document, the result', () => {
    const { reporter, out, err } = capture();
    reporter.result('text', [{ student: 1, state: 'up' }]);
    reporter.failure({ message: 'm' }, error);
    assert.deepEqual(JSON.parse(out.join('')), [{ student: 1, state: 'up' }]);
    assert.deepEqual(JSON.parse(err.join('')), error);
  });
});
