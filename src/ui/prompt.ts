/** A yes/no question on the terminal; the default is no. Inquirer is loaded only when a question is asked. */
export async function confirm(message: string): Promise<boolean> {
  const { default: inquirer } = await import('inquirer');
  const { ok } = await inquirer.prompt<{ ok: boolean }>([{ type: 'confirm', name: 'ok', message, default: false }]);
  return ok;
}
