// ESLint: a small, strict rule set for what the compiler cannot see.
// Type-aware (typescript-eslint's project service reads tsconfig.json).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/vendor/**', 'src/dashboard/ui/**', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits or catches loses its error (an unhandled rejection kills the process).
      // node:test's test()/describe() return promises the runner itself tracks.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // Every switch over a union handles every member: a new message type or state is a compile-time to-do list.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // One way to write private members: TypeScript's `private` (the code base's convention).
      'no-restricted-syntax': ['error', { selector: 'PrivateIdentifier', message: "use TypeScript's `private` modifier, the project's convention, not #private fields" }],
      '@typescript-eslint/no-explicit-any': 'error',
      'prefer-rest-params': 'error',
      'no-control-regex': 'error',
    },
  },
);
