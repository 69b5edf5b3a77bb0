#!/usr/bin/env node
// The `qcow` executable: runs the built command line (npm run build first when working from a checkout).
import { runProcess } from '../dist/cli/main.js'

await runProcess()
