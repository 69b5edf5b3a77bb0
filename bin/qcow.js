#!/usr/bin/env node
// The `qcow` executable: runs the bundled command line (npm run build makes dist/cli-bundle/ first when working from a checkout).
import { runProcess } from '../dist/cli-bundle/qcow.js'

await runProcess()
