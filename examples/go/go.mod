module lugo/examples

go 1.19
