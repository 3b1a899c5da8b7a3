#include <iostream>

#include "agent/cli/cli.h"

int main(int argc, char** argv) { return jobsync::RunCli(argc, argv, std::cout, std::cerr); }
