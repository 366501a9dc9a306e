import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries (docs/architecture.md): each external dependency enters through its own
 * modules, `api/` and `lib/` import neither process, the processes not each other. Type-only
 * imports of a package are allowed anywhere in the runtime code (they vanish at build: e.g. the
 * egress modules that use the client sidecar/egress/redis.ts creates name its type).
 */
const OWNED_PACKAGES = {
  '@kubernetes/client-node': ['operator/kube*.ts'],
  ioredis: ['sidecar/config/redis-source.ts', 'sidecar/egress/redis.ts', 'operator/publisher.ts'],
  kafkajs: ['sidecar/egress/kafka.ts'],
  express: ['sidecar/admin.ts', 'operator/admin.ts'],
};

const FOLDER_RULES = [
  {
    files: ['api/**/*.ts'],
    folders: ['sidecar', 'operator', 'lib', 'e2e', 'bench', 'tools', 'test'],
    packages: ['prom-client', 'node-forge'],
    why: 'api/ is the pure schema and compile(): it imports neither process nor lib/, and no package but zod and yaml',
  },
  { files: ['lib/**/*.ts'], folders: ['api', 'sidecar', 'operator', 'e2e', 'bench', 'tools', 'test'], why: 'lib/ is shared by both processes and imports neither, nor api/' },
  { files: ['sidecar/**/*.ts'], folders: ['operator', 'e2e', 'bench', 'tools', 'test'], why: 'the sidecar does not import the operator (shared code goes to api/ or lib/)' },
  { files: ['operator/**/*.ts'], folders: ['sidecar', 'e2e', 'bench', 'tools', 'test'], why: 'the operator does not import the sidecar (shared code goes to api/ or lib/)' },
  { files: ['cli.ts'], folders: ['e2e', 'bench', 'tools', 'test'], why: 'the CLI only starts the processes' },
];

const restrictedPaths = (allowed, extra = [], why = '') => [
  ...Object.entries(OWNED_PACKAGES)
    .filter(([pkg]) => pkg !== allowed)
    .map(([name, owners]) => ({ name, allowTypeImports: true, message: `only ${owners.join(', ')} may import ${name} (docs/architecture.md)` })),
  ...extra.map((name) => ({ name, message: `${why} (docs/architecture.md)` })),
];

const restrictedFolders = (folders, why) => [
  { regex: `^(\\.\\./)+(${folders.join('|')})/`, message: `${why} (docs/architecture.md)` },
];

/** One rule per file group: in a flat config the last matching object sets the whole rule. */
function boundaries() {
  const configs = FOLDER_RULES.map(({ files, folders, packages, why }) => ({
    files,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { paths: restrictedPaths(undefined, packages, why), patterns: restrictedFolders(folders, why) }] },
  }));
  for (const [pkg, owners] of Object.entries(OWNED_PACKAGES)) {
    for (const owner of owners) {
      const folder = FOLDER_RULES.find((r) => r.files[0].startsWith(`${owner.split('/')[0]}/`));
      configs.push({
        files: [owner],
        rules: { '@typescript-eslint/no-restricted-imports': ['error', { paths: restrictedPaths(pkg), patterns: restrictedFolders(folder.folders, folder.why) }] },
      });
    }
  }
  return configs;
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'charts/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Tests poke at malformed input on purpose.
    files: ['test/**/*.ts', 'e2e/**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...boundaries(),
);
