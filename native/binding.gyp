{
  "targets": [
    {
      "target_name": "qcow_seek",
      "sources": ["seek.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
