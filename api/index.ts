export * from './policy.js';
export * from './config.js';
export * from './compile.js';
export * from './validate.js';
