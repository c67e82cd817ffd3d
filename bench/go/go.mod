module lugo/bench

go 1.19
