/** The service's fixed names and paths (inside the root). No imports: the CLI's `--help` shows them. */
export const SERVICE = {
  user: 'earshot',
  unitName: 'earshot.service',
  unitPath: '/etc/systemd/system/earshot.service',
  configDir: '/etc/earshot',
  configPath: '/etc/earshot/earshot.yaml',
  stateDir: '/var/lib/earshot',
  modelDir: '/var/lib/earshot/models',
  credstore: '/etc/credstore',
} as const;
