import type { Lab } from './lab.js';
import { renderMailConfig } from './plan.js';
import { render } from './render.js';
import type { ImageFile } from '../docker/engine.js';

/** The files labctl renders into the mail image's build context: the accounts and their delivery. */
export async function mailImageFiles(lab: Lab): Promise<ImageFile[]> {
  const files: ImageFile[] = [
    // The Debian packages the lab adds (its own layer, after the base's, so that labs share the rest).
    { path: 'packages', content: lab.image.packages.map((p) => `${p}\n`).join('') },
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
  // A working default configuration, so the image also runs on its own; `up` puts each student's over it.
  for (const file of await renderMailConfig(lab, 'lab', 0, 'lab.test')) {
    files.push({ path: `labctl/${file.path}`, content: file.content, mode: file.mode });
  }
  return files;
}
