import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupDir, resetCommand } from '../../src/docker/maintenance-commands.js';

describe('a reset in the mail server, as the engines run it', () => {
  it('asks for a backup by flag only: the script makes its own folder', () => {
    assert.deepEqual(resetCommand({ action: 'reset', users: ['util1'], backup: true, timeoutSeconds: 30 }), [
      'timeout',
      '-k',
      '5',
      '30',
      'labctl-reset',
      '--backup',
      'util1',
    ]);
  });

  it("takes the backup folder from the script's first line only, and only under /var/lib/labctl/backups", () => {
    const dir = '/var/lib/labctl/backups/reset.Ab12Cd34';
    assert.equal(backupDir(`backup ${dir}\nutil1 spool=0 maildir=0 mbox=0\n`), dir);
    // A later line (what an account's part printed) or another place is never taken for it.
    assert.equal(backupDir(`util1 spool=0 maildir=0 mbox=0\nbackup ${dir}\n`), undefined);
    assert.equal(backupDir('backup /etc\n'), undefined);
    assert.equal(backupDir('backup /var/lib/labctl/backups/../../../etc\n'), undefined);
  });
});
