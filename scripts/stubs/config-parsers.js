// Stands in for `yaml`, `toml` and `ini` in the bundles (scripts/bundle.js): @effect/cli imports the three to
// read option values from config files (Options.fileParse, Args.fileParse), which Tidemark's programs do not
// offer, and evaluating them was part of every start. Should anything call one, it fails loudly.
export const parse = () => {
  throw new Error("tidemark: reading yaml, toml or ini files is not part of this build (scripts/stubs)")
}
