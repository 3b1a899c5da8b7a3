#include <iostream>

#include "agent/cli.h"

int main(int argc, char** argv) { return jobsync::RunCli(argc, argv, std::cout, std::cerr); }
