"""Phrases of contact-centre calls: the domain the hub's recogniser leans towards.

One utterance a line, lower case, written for this purpose (billing, orders, deliveries,
accounts, support, numbers and dates). :mod:`.language_model` turns them into a trigram model
over the bundled model's whole English vocabulary, so words outside these lines stay
reachable. Add a line for a phrase the floor hears often and the recogniser keeps missing.
"""

PHRASES = """
hello thank you for calling customer service my name is sam
good morning thanks for calling how may i help you
good afternoon you are speaking with alex how can i help
hi thanks for holding what can i do for you today
thank you for your patience
thanks for waiting i am sorry about the delay
how can i assist you
is there anything else i can help you with
is there anything else you need today
what can i help you with
i am calling about my bill
i am calling because my order has not arrived
i have a question about my invoice
i would like to speak to someone about my account
i would like to cancel my subscription
i would like to change my address
i would like to update my payment details
i would like to make a complaint
i want a refund please
i want to return the product
i need help with my password
i cannot log in to my account
my card was charged twice
i was charged the wrong amount
the invoice shows a charge i do not recognise
my last payment did not go through
my order number is one two three four
my phone number is five five five one two three four
my postcode is
my date of birth is the third of may
my name is john smith
it is on the first invoice
the last bill was too high
can you check my last invoice please
can i have a refund for the last order
could you send me a copy of the invoice
could you confirm your full name please
could you give me your account number please
can you tell me your order number
please tell me your date of birth
please tell me the email address on the account
please confirm the address on the account
let me check that for you
let me look at your account
let me have a look at that
one moment please while i check
please hold for a moment
i can see the payment on your account
i can see the order was sent yesterday
i can see two charges for the same amount
i am sorry for the trouble
i am sorry to hear that
i understand how frustrating that is
i can help you with the refund
i can help you with your order
i can help with that
i will help you with that today
we can sort that out for you
i have issued a refund to your card
the refund has been approved
the refund will be back on your card in three to five working days
you will see the money in five business days
the money will arrive within ten days
it should arrive in two or three days
your parcel will arrive tomorrow
the delivery will arrive on monday
the engineer will visit on friday morning
your new card will arrive in seven days
you will receive an email with the details
i have sent you a confirmation email
i have updated your address
i have cancelled the subscription
i have reset your password
your account is now active
your complaint has been logged
your reference number is four five six
your ticket number is seven eight nine
the total is twenty nine pounds
the amount is forty five dollars and ninety nine cents
that will be fifteen euros
yes that is right
yes please
no thank you
no that is all
that is all thank you
thank you so much for your help
thank you very much for your help
thanks a lot
you have been very helpful
have a nice day
have a great day goodbye
thank you for calling goodbye
bye bye
goodbye
okay great
all right
perfect thank you
sorry could you repeat that
sorry i did not catch that
could you spell that please
one two three four five six seven eight nine zero
zero one two three four five six seven eight nine
four five six seven
seven six five four
double five
monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
first second third fourth fifth
the account is in my name
the account is in my wife's name
i am the account holder
i paid by credit card
i paid by bank transfer
i have not received my refund yet
when will i get my money back
how long will the refund take
why was i charged a late fee
can you waive the fee
i would like to upgrade my plan
i would like to downgrade my plan
my internet is not working
my phone has no signal
the app keeps crashing
i did not receive the verification code
the package arrived damaged
the item is missing from my order
i received the wrong item
can i speak to a manager
i will transfer you to a colleague
i will put you through to the billing team
i will escalate this to my supervisor
a supervisor will call you back within twenty four hours
your call may be recorded for quality and training purposes
"""
