module trackvia-operator/tools/pause

go 1.24
