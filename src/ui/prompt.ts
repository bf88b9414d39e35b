import inquirer from 'inquirer';

/** A yes/no question on the terminal; the default is no. */
export async function confirm(message: string): Promise<boolean> {
  const { ok } = await inquirer.prompt<{ ok: boolean }>([{ type: 'confirm', name: 'ok', message, default: false }]);
  return ok;
}
