#!/usr/bin/env node
// The `qcow` executable: runs the bundled command line (npm run build makes dist/ first when working from a checkout).
import { runBundled } from '../dist/cli/launch.js'

await runBundled()
