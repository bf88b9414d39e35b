import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contextTag, imageContexts } from '../../src/core/images.js';
import { loadLab } from '../../src/core/lab.js';

describe('mail image context', () => {
  it('creates every account with its password, a Maildir and a .forward to both mailboxes', async () => {
    const { files } = (await imageContexts(await loadLab())).mail;
    const script = files.find((f) => f.path === 'labctl/accounts.sh')!.content.toString();
    assert.match(script, /useradd .* util1$/m);
    assert.match(script, /useradd .* util19$/m);
    assert.match(script, /^util7:master2021$/m);
    assert.match(script, /maildirmake "\$home\/Maildir"/);
    const forward = files.find((f) => f.path === 'labctl/forward/util12')!.content.toString();
    assert.equal(forward, 'util12, /home/util12/Maildir/\n');
    assert.ok(files.some((f) => f.path === 'Dockerfile'));
    assert.ok(files.some((f) => f.path === 'entrypoint.sh' && f.mode === 0o755));
  });

  it('tags the image by its content, so a changed account list means a new image', () => {
    const a = contextTag('labctl/mail', [{ path: 'x', content: 'util1:master2021' }]);
    const b = contextTag('labctl/mail', [{ path: 'x', content: 'util1:other' }]);
    assert.match(a, /^labctl\/mail:[0-9a-f]{12}$/);
    assert.notEqual(a, b);
    assert.equal(a, contextTag('labctl/mail', [{ path: 'x', content: 'util1:master2021' }]));
  });
});
