from navigator.local.agent.main import main

main()
