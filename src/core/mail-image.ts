import type { Lab } from './lab.js';
import { render } from './render.js';
import type { ContextFile } from '../docker/images.js';

/** The files labctl renders into the mail image's build context: the accounts and their delivery. */
export async function mailImageFiles(lab: Lab): Promise<ContextFile[]> {
  const files: ContextFile[] = [
    {
      path: 'labctl/accounts.sh',
      content: await render('mail/accounts.sh.ejs', { lab: lab.name, accounts: lab.accounts }),
      mode: 0o755,
    },
  ];
  for (const account of lab.accounts) {
    files.push({
      path: `labctl/forward/${account.user}`,
      content: await render('mail/forward.ejs', { user: account.user }),
    });
  }
  return files;
}
