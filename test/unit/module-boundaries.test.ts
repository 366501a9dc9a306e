/**
 * The module boundaries of docs/architecture.md are lint rules (eslint.config.js): each rule is
 * shown to fail on a small snippet linted as if it lived at the given path, and to pass where
 * the architecture allows the import.
 */
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: process.cwd() });

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

describe('module boundaries (eslint no-restricted-imports)', () => {
  test.each([
    ['api/x.ts', "import { Inbound } from '../sidecar/inbound.js';", /api\/ is the pure schema/],
    ['api/x.ts', "import { Controller } from '../operator/controller.js';", /api\/ is the pure schema/],
    ['api/x.ts', "import { createLogger } from '../lib/log.js';", /api\/ is the pure schema/],
    ['api/x.ts', "import { freePort } from '../e2e/apps/free-port.js';", /api\/ is the pure schema/],
    ['api/x.ts', "import { Registry } from 'prom-client';", /no package but zod and yaml/],
    ['lib/x.ts', "import { main } from '../sidecar/main.js';", /lib\/ is shared by both processes/],
    ['lib/x.ts', "import { main } from '../operator/main.js';", /lib\/ is shared by both processes/],
    ['lib/x.ts', "import { compile } from '../api/compile.js';", /lib\/ is shared by both processes and imports neither, nor api\//],
    ['sidecar/config/x.ts', "import { parseOperatorFlags } from '../../operator/flags.js';", /the sidecar does not import the operator/],
    ['operator/x.ts', "import { Inbound } from '../sidecar/inbound.js';", /the operator does not import the sidecar/],
    ['operator/reconcile.ts', "import { KubeConfig } from '@kubernetes/client-node';", /only operator\/kube\*\.ts may import @kubernetes\/client-node/],
    ['sidecar/egress/dedup.ts', "import { Redis } from 'ioredis';", /may import ioredis/],
    ['operator/controller.ts', "import { Redis } from 'ioredis';", /may import ioredis/],
    ['sidecar/egress/defer.ts', "import { Kafka } from 'kafkajs';", /only sidecar\/egress\/kafka\.ts may import kafkajs/],
    ['sidecar/inbound.ts', "import express from 'express';", /only sidecar\/admin\.ts, operator\/admin\.ts may import express/],
    ['lib/x.ts', "import { Redis } from 'ioredis';", /may import ioredis/],
  ])('%s: %s is refused', async (filePath, code, message) => {
    const messages = await restricted(filePath, `${code}\nexport const used = [${/import (?:\{ )?(\w+)/.exec(code)![1]}];\n`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(message);
  });

  test.each([
    ['operator/kube.ts', "import { KubeConfig } from '@kubernetes/client-node';"],
    ['sidecar/egress/redis.ts', "import { Redis } from 'ioredis';"],
    ['sidecar/config/redis-source.ts', "import { Redis } from 'ioredis';"],
    ['operator/publisher.ts', "import { Redis } from 'ioredis';"],
    ['sidecar/egress/kafka.ts', "import { Kafka } from 'kafkajs';"],
    ['operator/admin.ts', "import express from 'express';"],
    ['sidecar/admin.ts', "import express from 'express';"],
    // A type-only import has no runtime dependency: the egress modules name the client's type.
    ['sidecar/egress/dedup.ts', "import type { Redis } from 'ioredis';"],
    ['sidecar/main.ts', "import { createLogger } from '../lib/log.js';"],
    ['operator/main.ts', "import { compile } from '../api/compile.js';"],
    ['api/crd.ts', "import { stringify } from 'yaml';"],
    ['e2e/x.ts', "import { Inbound } from '../sidecar/inbound.js';"],
  ])('%s: %s is allowed', async (filePath, code) => {
    const name = /import (?:type )?(?:\{ )?(\w+)/.exec(code)![1];
    expect(await restricted(filePath, `${code}\nexport type Used = typeof ${name};\n`)).toEqual([]);
  });
});
