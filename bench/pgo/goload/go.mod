module goload

go 1.23
