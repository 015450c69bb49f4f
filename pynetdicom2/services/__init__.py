"""The DIMSE services, one module per service class (PS3.4), behind :mod:`pynetdicom2.sopclass`.

Import the services from :mod:`pynetdicom2.sopclass`, which has them all under their
original names; these modules are where they are written:

========================  =====================================================================
``base``                  registration decorators, message dispatchers, the request/response
                          helpers every service uses
``verification``          Verification (PS3.4 A): C-ECHO
``storage``               Storage (PS3.4 B): C-STORE
``query``                 Query/Retrieve (PS3.4 C): C-FIND, and what C-MOVE and C-GET share
                          with it
``suboperations``         the C-MOVE/C-GET SCP's sub-operations: counting, responding, what
                          is sent
``moveassociation``       the C-MOVE SCP's association with the move destination
``retrieve``              Query/Retrieve: C-MOVE and C-GET
``worklist``              Modality Worklist (PS3.4 K)
``nservices``             the DIMSE-N services (PS3.7 10): generic SCU functions and SCP
``mpps``                  Modality Performed Procedure Step (PS3.4 F)
``commitment``            Storage Commitment Push Model (PS3.4 J)
``nsupport``              what the DIMSE-N classes below share: requests naming their own SOP
                          class, N-EVENT-REPORTs answered through the AE's hook and sent
``upsstate``              Unified Procedure Step (PS3.4 CC): the worklist's states, Transaction
                          UIDs and subscriptions, without the network
``ups``                   Unified Procedure Step (PS3.4 CC): the SCU, the SCP and its event
                          reports
``ian``                   Instance Availability Notification (PS3.4 R)
``eventlogging``          Application Event Logging (PS3.4 P): procedural events, substance
                          administration
``storagemanagement``     Storage Management (PS3.4 KK): Inventory Creation
``displaysystem``         Display System Management (PS3.4 EE)
``mediacreation``         Media Creation Management (PS3.4 S)
``rtverification``        RT Conventional and Ion Machine Verification (PS3.4 DD)
``printmanagement``       Basic Print Management (PS3.4 H): the SCU, the SOP classes, the image
                          boxes' checks
``printscp``              Basic Print Management (PS3.4 H): the SCP and its film sessions
========================  =====================================================================

Each module imports only from those above it in this order (``base`` first), so there are no
import cycles.
"""
